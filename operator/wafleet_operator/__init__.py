"""wafleet's Kubernetes operator: reconciles wafleet.io resources into workloads."""

__version__ = "0.1.0"
