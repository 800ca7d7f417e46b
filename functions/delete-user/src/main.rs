use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::app::load().await?.erasing().await?.app();
    run(service_fn(|req| delete_user::handle(&app, req))).await
}
