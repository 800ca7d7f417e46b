use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let warm_up = shared::app::warm_up();
    let app = shared::app::load()
        .await?
        .sending_mail()?
        .keeping_sizes()
        .warmed(warm_up)
        .app();
    run(service_fn(|req| create_user::handle(&app, req))).await
}
