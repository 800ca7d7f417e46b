//! A `lambda_http` function that reads one item of `TABLE_NAME` and answers its status: the
//! least any function of ours does (docs/performance.md, "The floor").

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("TABLE_NAME")?;
    run(service_fn(|_: Request| {
        let (client, table) = (&client, &table);
        async move {
            let item = client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S("FLOOR".into()))
                .key("sk", AttributeValue::S("FLOOR".into()))
                .send()
                .await?;
            let found = item.item.is_some();
            Ok::<_, Error>(Response::new(Body::from(format!("{{\"found\":{found}}}"))))
        }
    }))
    .await
}
