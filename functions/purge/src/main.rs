use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::app::from_env_erasing().await?;
    run(service_fn(|event| purge::handle(&app, event))).await
}
