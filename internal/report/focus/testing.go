package focus

import (
	"io"
	"math/big"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/shopspring/decimal"
)

// Decimal128 reads a DECIMAL(38, 12) value as decimal128 writes it: what a Parquet reader
// (and the tests) get back.
func Decimal128(b []byte) decimal.Decimal {
	u := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return decimal.NewFromBigInt(u, -Precision)
}

// ReadParquet reads an export's Parquet file back as the CSV writer writes its rows: per row,
// the text of each of Columns, "" for null. Clients and the tests use it to compare the two.
func ReadParquet(r io.ReaderAt, size int64) ([][]string, error) {
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		return nil, err
	}
	rd := parquet.NewReader(f)
	defer rd.Close()
	var out [][]string
	buf := make([]parquet.Row, 64)
	for {
		n, err := rd.ReadRows(buf)
		for _, pr := range buf[:n] {
			rec := make([]string, len(Columns))
			for i, c := range Columns {
				v := pr[leaves[i]]
				switch {
				case v.IsNull():
				case c.Type == TypeDecimal:
					rec[i] = Decimal128(v.ByteArray()).String()
				case c.Type == TypeDateTime:
					rec[i] = time.UnixMilli(v.Int64()).UTC().Format(DateTimeFormat)
				default:
					rec[i] = string(v.ByteArray())
				}
			}
			out = append(out, rec)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
