use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::app::load().await?.app();
    run(service_fn(|req| patch_tenant_settings::handle(&app, req))).await
}
