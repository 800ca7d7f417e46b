use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let mut app = shared::app::from_env().await?;
    // Every request places a new user by its tenant's size: read it with the settings.
    app.settings_cache =
        std::sync::Arc::new(shared::operations::tenant::SettingsCache::keeping_sizes());
    run(service_fn(|req| create_user::handle(&app, req))).await
}
