use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::app::from_env().await?;
    run(service_fn(|event| account_mail_sender::handle(&app, event))).await
}
