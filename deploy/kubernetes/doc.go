// Package kubernetes holds athlake's Kubernetes manifests (the YAML files
// beside this one); its test decodes them strictly into the Kubernetes API
// types and loads their athlake configs with the real config loader.
package kubernetes
