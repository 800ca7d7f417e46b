use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::app::from_env_with_mail_queue().await?;
    run(service_fn(|req| request_password_reset::handle(&app, req))).await
}
