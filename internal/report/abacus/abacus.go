// Package abacus is the Abacus view of the report core (seed 001): the usage summary report
// of an organization, the resource instance report, GraphQL queries over them, and their HTTP
// routes. It builds its documents from report.Reporter's cells as of a time; charges are
// summed up every level (plan, resource, consumer, space, organization) as exact decimals.
// Like every view, it imports the report core and never another view.
package abacus

import "github.com/meterline/meterline/internal/report"

// Reports builds Abacus' report documents with the report core.
type Reports struct {
	r *report.Reporter
}

// NewReports returns the Abacus view over r.
func NewReports(r *report.Reporter) *Reports { return &Reports{r: r} }
