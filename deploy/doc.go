// Package deploy holds sluice's deployment kit: the container image
// (Dockerfile), Kubernetes manifests (k8s/) and an HAProxy TCP-mode config in
// front of several instances (haproxy/). It has no Go code of its own; its
// tests check the kit offline: every config compiles, and the manifests, the
// image and the balancer agree on ports, probe paths, the config's mount path
// and the drain timings.
package deploy
