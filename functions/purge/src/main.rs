use lambda_runtime::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::app::load()
        .await?
        .sending_mail()?
        .erasing()
        .await?
        .app();
    run(service_fn(|event| purge::handle(&app, event))).await
}
