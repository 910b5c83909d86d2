// Package deploy checks the Kubernetes manifests, the Dockerfiles and
// skaffold.yaml against each other and against the services' code.
package deploy
