// Package cfmeta is what Cloud Controller says of one Cloud Foundry organization, space, app
// or service instance: the one definition the CF poller's metadata loop writes
// (internal/poller/cf) and the PCF usage report reads back beside the metered usage
// (internal/report/pcf). The package does no I/O.
package cfmeta

// Meta is one organization, space, app or service instance. A quota limit that is nil is
// unlimited; organizations and spaces carry their quota (a space without a space quota has
// none).
type Meta struct {
	Org, Kind, GUID, Space, Name string
	// Apps: the state, the buildpack of the current droplet (its detected or named
	// buildpack), and the web process's instances, memory and disk quota per instance.
	State, Buildpack            string
	Instances, MemoryMB, DiskMB int64
	// Service instances: the plan's guid and name and the service offering's name.
	Plan, PlanName, Offering string
	// Organizations and spaces: the quota's guid and name and its limits.
	Quota, QuotaName                                                                            string
	QuotaMemoryMB, QuotaInstanceMemoryMB, QuotaAppInstances, QuotaServiceInstances, QuotaRoutes *int64
}
