//! A worker's ECS service (in the worker's region): scaling it, and
//! reading its deployments.

use async_trait::async_trait;
use aws_sdk_ecs::Client;
use aws_types::SdkConfig;
use aws_types::region::Region;
use jobs_domain::StepError;
use jobs_domain::ports::{PortResult, WorkerServices};
use jobs_domain::worker::{Deployment, ServiceState};

use crate::aws::classify;

pub struct EcsWorkerServices {
    config: SdkConfig,
}

impl EcsWorkerServices {
    pub fn new(config: SdkConfig) -> Self {
        EcsWorkerServices { config }
    }

    fn client(&self, region: &str) -> Client {
        let conf = aws_sdk_ecs::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()))
            .build();
        Client::from_conf(conf)
    }
}

#[async_trait]
impl WorkerServices for EcsWorkerServices {
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

    async fn state(&self, region: &str, cluster: &str, service: &str) -> PortResult<ServiceState> {
        let out = self
            .client(region)
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| classify(&format!("describing service {service}"), e))?;
        let svc = out
            .services
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.status.as_deref() != Some("INACTIVE"))
            .ok_or_else(|| {
                StepError::not_found(format!("service {service} does not exist in {cluster}"))
            })?;
        Ok(ServiceState {
            task_definition: svc.task_definition.unwrap_or_default(),
            deployments: svc
                .deployments
                .unwrap_or_default()
                .into_iter()
                .map(|d| Deployment {
                    status: d.status.unwrap_or_default(),
                    task_definition: d.task_definition.unwrap_or_default(),
                    rollout_state: d.rollout_state.map(|r| r.as_str().to_string()),
                    rollout_state_reason: d.rollout_state_reason,
                    desired_count: d.desired_count,
                    running_count: d.running_count,
                })
                .collect(),
        })
    }
}
