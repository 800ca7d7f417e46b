use lambda_runtime::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::app::load().await?.app();
    run(service_fn(|event| ses_feedback::handle(&app, event))).await
}
