use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::app::from_env().await?;
    run(service_fn(|req| get_job::handle(&app, req))).await
}
