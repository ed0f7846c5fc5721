//! The platform's image registry: resolves a private ECR tag to the digest
//! it points at now (`ecr:DescribeImages` in the registry's own region), so
//! that a task definition pins what runs. References ECR cannot answer for
//! (another registry, or already pinned) are used as they are.

use async_trait::async_trait;
use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::ImageIdentifier;
use aws_types::SdkConfig;
use aws_types::region::Region;
use jobs_domain::StepError;
use jobs_domain::ports::{PortResult, ReleaseImages};
use jobs_domain::worker::EcrImage;

use crate::aws::classify;

pub struct EcrReleaseImages {
    config: SdkConfig,
}

impl EcrReleaseImages {
    pub fn new(config: SdkConfig) -> Self {
        EcrReleaseImages { config }
    }
}

#[async_trait]
impl ReleaseImages for EcrReleaseImages {
    async fn resolve(&self, image: &str) -> PortResult<String> {
        let Some(ecr) = EcrImage::parse(image) else {
            return Ok(image.to_string());
        };
        let client = Client::from_conf(
            aws_sdk_ecr::config::Builder::from(&self.config)
                .region(Region::new(ecr.region.clone()))
                .build(),
        );
        let out = client
            .describe_images()
            .registry_id(&ecr.account)
            .repository_name(&ecr.repository)
            .image_ids(ImageIdentifier::builder().image_tag(&ecr.tag).build())
            .send()
            .await
            .map_err(|e| classify(&format!("resolving the image {image}"), e))?;
        let digest = out
            .image_details
            .unwrap_or_default()
            .into_iter()
            .find_map(|d| d.image_digest)
            .ok_or_else(|| StepError::not_found(format!("the image {image} does not exist")))?;
        Ok(ecr.pinned(&digest))
    }
}
