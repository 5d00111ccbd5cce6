package focus

import (
	"io"
	"math/big"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/shopspring/decimal"
)

// Schema is the Parquet schema of an export (github.com/parquet-go/parquet-go), one column per
// Columns entry: String columns are UTF-8 strings, Decimal columns DECIMAL(38, 12) in 16-byte
// two's complement (exact, as FOCUS asks of costs), Date/Time columns TIMESTAMP(MILLIS, UTC),
// JSON columns JSON; a nullable column is OPTIONAL, the others REQUIRED. TestColumnsMatchSpec
// checks it against the specification. The rows are written as parquet.Row values, not through
// parquet-go's struct tags: in v0.32.0 an optional JSON field of a struct panics on write or
// loses its value.
var Schema = newSchema()

func newSchema() *parquet.Schema {
	g := parquet.Group{}
	for _, c := range Columns {
		var n parquet.Node
		switch c.Type {
		case TypeDecimal:
			n = parquet.Decimal(Precision, 38, parquet.FixedLenByteArrayType(16))
		case TypeDateTime:
			n = parquet.Timestamp(parquet.Millisecond)
		case TypeJSON:
			n = parquet.JSON()
		default:
			n = parquet.String()
		}
		if c.Nullable {
			n = parquet.Optional(n)
		} else {
			n = parquet.Required(n)
		}
		g[c.Name] = n
	}
	return parquet.NewSchema("focus", g)
}

// leaves maps Columns' index to the column index of Schema (a Group orders its fields by
// name).
var leaves = func() []int {
	out := make([]int, len(Columns))
	for i, c := range Columns {
		l, ok := Schema.Lookup(c.Name)
		if !ok {
			panic("focus: no Parquet column " + c.Name)
		}
		out[i] = l.ColumnIndex
	}
	return out
}()

// decimal128 is d rounded to Precision places as DECIMAL(38, 12)'s unscaled value: 16 bytes
// of big-endian two's complement. A value beyond 38 digits cannot come from usage_cells
// (Decimal(38, 12)) but could from a charge formula; Rows refuses such a row (fitsDecimal38)
// before any writer sees it.
func decimal128(d decimal.Decimal) [16]byte {
	u := round(d).Shift(Precision).BigInt()
	if u.Sign() < 0 {
		u.Add(u, new(big.Int).Lsh(big.NewInt(1), 128))
	}
	var b [16]byte
	u.FillBytes(b[:])
	return b
}

// parquetValue is the value of column c (Columns' index i) in Schema's form; text is what
// Columns give (nil for null).
func parquetValue(i int, text *string) parquet.Value {
	c, col := Columns[i], leaves[i]
	def := 0
	if c.Nullable {
		def = 1
	}
	if text == nil {
		return parquet.Value{}.Level(0, 0, col)
	}
	var v parquet.Value
	switch c.Type {
	case TypeDecimal:
		d, _ := decimal.NewFromString(*text)
		b := decimal128(d)
		v = parquet.FixedLenByteArrayValue(b[:])
	case TypeDateTime:
		t, _ := time.Parse(DateTimeFormat, *text)
		v = parquet.Int64Value(t.UnixMilli())
	default:
		v = parquet.ByteArrayValue([]byte(*text))
	}
	return v.Level(0, def, col)
}

// ParquetWriter writes FOCUS rows as a Parquet file. Parquet's footer comes last, so a file
// cut short (an export that failed after its first rows) is unreadable, never a short file
// that reads as complete.
type ParquetWriter struct {
	w    *parquet.Writer
	rows []parquet.Row
}

// NewParquetWriter writes to w.
func NewParquetWriter(w io.Writer) *ParquetWriter {
	return &ParquetWriter{w: parquet.NewWriter(w, Schema, parquet.Compression(&parquet.Snappy),
		parquet.CreatedBy("meterline", "", ""))}
}

// Write writes rows, the values of each as Columns give them (so CSV and Parquet agree).
func (pw *ParquetWriter) Write(rows []Row) error {
	pw.rows = pw.rows[:0]
	for i := range rows {
		pr := make(parquet.Row, len(Columns))
		for j, c := range Columns {
			pr[leaves[j]] = parquetValue(j, c.value(&rows[i]))
		}
		pw.rows = append(pw.rows, pr)
	}
	_, err := pw.w.WriteRows(pw.rows)
	return err
}

// Close writes the footer.
func (pw *ParquetWriter) Close() error { return pw.w.Close() }
