// Package metering is the domain of the metering processor, with no I/O: it imports no Kafka,
// ClickHouse, HTTP or logging package.
//
// Every metric keeps cells at the levels second, minute, hour, day and month; a usage
// document lands, at each level, in the cell of the calendar period (UTC) that holds its end
// time. A report for time t shows, per level, slot 0 = the period holding t, slot 1 = the one
// before, and so on.
//
// The files say what they hold:
//   - windows.go: the levels, their calendar periods and the report slots.
//   - acceptance.go: the one home of "too late" and "from the future": the slack, the future
//     tolerance, the floor a partition has pruned up to, and the pruning horizon.
//   - keys.go: scopes, cell keys and their encoding (the changelog's "c/" keys).
//   - values.go: the encoding of cell values on the topics.
//   - cells.go: Cells, one partition's cells in memory, with an open transaction kept apart
//     from the committed values; expiry.go indexes them (and anything else) by expiry time.
//   - engine.go: Engine, which meters, accumulates, aggregates and rates documents into Cells.
//   - rejection.go: why a document is not counted, and its typed RejectCode.
package metering
