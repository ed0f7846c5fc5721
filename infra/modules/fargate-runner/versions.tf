terraform {
  # use_lockfile (S3-native state locking) in the root backend needs >= 1.10.
  # Tested with terraform 1.11.4 and hashicorp/aws 5.100.0 (also against moto 5.2.5).
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}
