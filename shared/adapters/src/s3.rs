//! Rendered configurations stored in S3.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use jobs_domain::StepError;
use jobs_domain::ports::{ArtifactStore, PortResult};

use crate::aws::{classify, error_code};

pub struct S3ArtifactStore {
    client: Client,
    bucket: String,
}

impl S3ArtifactStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3ArtifactStore {
            client,
            bucket: bucket.into(),
        }
    }

    /// An S3 client from the shared configuration; `force_path_style` is
    /// for emulators on a loopback address, which have no bucket host names.
    pub fn client(config: &aws_types::SdkConfig, force_path_style: bool) -> Client {
        let conf = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(force_path_style)
            .build();
        Client::from_conf(conf)
    }
}

#[async_trait]
impl ArtifactStore for S3ArtifactStore {
    async fn put(&self, key: &str, body: Vec<u8>) -> PortResult<String> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .content_type("application/json")
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| classify(&format!("writing s3://{}/{key}", self.bucket), e))?;
        Ok(self.uri(key))
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let out = match result {
            Ok(o) => o,
            Err(e) if error_code(&e) == Some("NoSuchKey") => return Ok(None),
            Err(e) => return Err(classify(&format!("reading s3://{}/{key}", self.bucket), e)),
        };
        let bytes = out.body.collect().await.map_err(|e| {
            StepError::unavailable(format!("reading s3://{}/{key}: {e}", self.bucket))
        })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }
}
