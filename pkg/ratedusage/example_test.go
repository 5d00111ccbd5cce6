package ratedusage_test

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/meterline/meterline/pkg/ratedusage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// A record of <prefix>.usage.rated.v2 holds the cells of one transaction; DecodeBatch gives
// them as Decode gives a v1 record.
func ExampleDecodeBatch() {
	value, _ := proto.Marshal(&meterlinev1.RatedUsageBatch{Cells: []*meterlinev1.RatedUsage{
		{OrganizationId: "org", Metric: "storage", Scope: "organization", Level: "month", Plan: "basic/m/r/p",
			Cost: &meterlinev1.Value{Kind: &meterlinev1.Value_Decimal{Decimal: "46.09"}}},
		{OrganizationId: "org", Metric: "storage", Scope: "organization", Level: "month"},
	}})
	cells, err := ratedusage.DecodeBatch(value)
	if err != nil {
		panic(err)
	}
	for _, c := range cells {
		fmt.Printf("%s %s plan %q cost %q\n", c.Scope, c.Level, c.PlanID, c.Cost.Decimal)
	}
	// Output:
	// organization month plan "basic" cost "46.09"
	// organization month plan "" cost ""
}
