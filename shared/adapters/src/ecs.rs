//! Scales a worker's ECS service (in the worker's region).

use async_trait::async_trait;
use aws_sdk_ecs::Client;
use aws_types::SdkConfig;
use aws_types::region::Region;
use jobs_domain::ports::{PortResult, ServiceScaler};

use crate::aws::classify;

pub struct EcsServiceScaler {
    config: SdkConfig,
}

impl EcsServiceScaler {
    pub fn new(config: SdkConfig) -> Self {
        EcsServiceScaler { config }
    }

    fn client(&self, region: &str) -> Client {
        let conf = aws_sdk_ecs::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()))
            .build();
        Client::from_conf(conf)
    }
}

#[async_trait]
impl ServiceScaler for EcsServiceScaler {
    async fn set_desired_count(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
        count: i32,
    ) -> PortResult<()> {
        self.client(region)
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(count)
            .send()
            .await
            .map_err(|e| classify(&format!("scaling service {service} to {count}"), e))?;
        Ok(())
    }
}
