"""Providers turn a source of Kubernetes objects into calls of `apply(objects)`."""
