package focus

import (
	"encoding/csv"
	"io"
)

// CSVWriter writes FOCUS rows as CSV (RFC 4180): a header of Columns' names, then a line per
// row; a null is an empty field, as FOCUS's CSV files write it. Rows go out as they are
// written, each batch of flushEvery rows flushed to the underlying writer.
type CSVWriter struct {
	w      *csv.Writer
	n      int
	fields []string
}

const flushEvery = 1000

// NewCSVWriter writes the header to w.
func NewCSVWriter(w io.Writer) (*CSVWriter, error) {
	cw := &CSVWriter{w: csv.NewWriter(w), fields: make([]string, len(Columns))}
	if err := cw.w.Write(Header()); err != nil {
		return nil, err
	}
	return cw, nil
}

// Write writes rows.
func (cw *CSVWriter) Write(rows []Row) error {
	for i := range rows {
		for j, c := range Columns {
			cw.fields[j] = ""
			if v := c.value(&rows[i]); v != nil {
				cw.fields[j] = *v
			}
		}
		if err := cw.w.Write(cw.fields); err != nil {
			return err
		}
		if cw.n++; cw.n%flushEvery == 0 {
			cw.w.Flush()
			if err := cw.w.Error(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close flushes what is buffered.
func (cw *CSVWriter) Close() error {
	cw.w.Flush()
	return cw.w.Error()
}
