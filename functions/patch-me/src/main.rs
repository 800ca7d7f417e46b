use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::app::load().await?.sending_mail()?.app();
    run(service_fn(|req| patch_me::handle(&app, req))).await
}
