// Package charttest renders the Helm chart in deploy/helm/tickmark with
// Helm's Go library, in both modes, with the default and the fleet values,
// and decodes every manifest strictly into the Kubernetes API types. It is
// its own module so that Helm's and Kubernetes' dependencies stay out of
// tickmark's go.mod; `make chart-test` (part of `make test`) runs it.
package charttest
