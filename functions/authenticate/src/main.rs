use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let warm_up = shared::app::warm_up();
    let app = shared::app::load()
        .await?
        .with_mail_queue()?
        .warmed(warm_up)
        .app();
    run(service_fn(|req| authenticate::handle(&app, req))).await
}
