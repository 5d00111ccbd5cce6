// Package chartcheck holds the tests of Meterline's deployment files: the Helm chart
// (deploy/helm/meterline), rendered with the Helm Go library for its default and production
// values, and docker-compose.yml. Both are checked against the meterline binary itself: every
// environment variable they set must be a setting that `meterline <command> --help` lists,
// and every command they run one the binary has. It is a module of its own (deploy/helm) so
// that the main module does not take Helm's dependencies.
package chartcheck
