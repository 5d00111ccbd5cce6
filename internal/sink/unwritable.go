package sink

import (
	"errors"
	"fmt"
	"strings"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/kafka"
	"github.com/meterline/meterline/internal/plans"
	"github.com/meterline/meterline/internal/usage"
	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// What a sink cannot write, told from what it cannot write now.
//
// A record's values are checked as it is decoded, against what its table's columns hold
// (checkCell, checkEvent): one that fails is set aside at once and never sent. What only
// ClickHouse can tell is recognised by its exception code (unwritable). Everything else a
// write fails with is taken for a failure of ClickHouse (unreachable, overloaded, read-only,
// a schema the sink does not expect), which retrying outlives or an operator mends, and is
// retried: it must never set a record aside. So is a value conversion the driver refuses
// (clickhouse-go's column errors): that is a column of another type than the sink writes,
// which every row meets alike.

// valueCodes are the codes of ClickHouse's exceptions about the values of rows: a row that
// meets one meets it again whenever it is written.
var valueCodes = map[int32]string{
	69:  "ARGUMENT_OUT_OF_BOUND",
	117: "INCORRECT_DATA",
	131: "TOO_LARGE_STRING_SIZE",
	321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
	407: "DECIMAL_OVERFLOW",
	469: "VIOLATED_CONSTRAINT",
}

// tooManyParts is code 252's; its message tells the batch's rows span more partitions than one
// INSERT may write (max_partitions_per_insert_block, in current releases), which a smaller
// part of the batch does not, as opposed to merges falling behind, which is retried.
const tooManyParts = 252

// unwritable returns err marked kafka.Unwritable when ClickHouse refused the write for what
// its rows hold, so that the batch is written in parts and the rows it refuses alone are set
// aside; else err as it is.
func unwritable(err error) error {
	var ex *ch.Exception
	if !errors.As(err, &ex) {
		return err
	}
	if _, ok := valueCodes[ex.Code]; ok ||
		(ex.Code == tooManyParts && strings.Contains(ex.Message, "partitions for single INSERT block")) {
		return kafka.Unwritable(err)
	}
	return err
}

// maxDecimalText is the longest decimal text a sink reads: a Decimal(38, 12) has 38 digits, a
// sign and a point; a text much longer (trailing zeros, an exponent) is no value it writes,
// and is refused unread, however many digits it has.
const maxDecimalText = 80

// checkDecimal says why the decimal text s, for column, cannot be written as it is: it is no
// decimal, or does not fit Decimal(38, 12) unrounded (the driver would truncate its places or
// refuse its size).
func checkDecimal(column, s string) error {
	if len(s) > maxDecimalText {
		return fmt.Errorf("%s: a decimal of %d characters does not fit Decimal(38, %d)", column, len(s), plans.StoredScale)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return fmt.Errorf("%s: %q is not a decimal", column, s)
	}
	if why := plans.CheckStored(d); why != "" {
		return fmt.Errorf("%s: %s %s", column, plans.ShortNumber(d), why)
	}
	return nil
}

// checkCell says why the rated cell u cannot be written to usage_cells.
func checkCell(u *meterlinev1.RatedUsage) error {
	for _, v := range [...]struct {
		column string
		value  *meterlinev1.Value
	}{{"usage_cells.quantity", u.GetQuantity()}, {"usage_cells.cost", u.GetCost()}} {
		if d, ok := v.value.GetKind().(*meterlinev1.Value_Decimal); ok {
			if err := checkDecimal(v.column, d.Decimal); err != nil {
				return fmt.Errorf("cell %s %s of metric %s of organization %s: %w", u.GetLevel(), u.GetScope(), u.GetMetric(),
					u.GetOrganizationId(), err)
			}
		}
	}
	return nil
}

// checkEvent says why the usage event ev cannot be written to usage_events.
func checkEvent(ev *meterlinev1.UsageEvent) error {
	if _, ok := usage.EndOfID(ev.GetId()); !ok {
		return fmt.Errorf("usage event: %.300q is not a document id", ev.GetId()) // at most 300 characters of it
	}
	for _, m := range ev.GetDocument().GetMeasuredUsage() {
		if err := checkDecimal("usage_events.measured_usage.quantity", m.GetQuantity()); err != nil {
			return fmt.Errorf("usage event %s: measure %.300q: %w", ev.GetId(), m.GetMeasure(), err)
		}
	}
	return nil
}
