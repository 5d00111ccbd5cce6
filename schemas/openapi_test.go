package schemas

import "testing"

func TestOpenAPIMerges(t *testing.T) {
	doc, err := OpenAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	if doc.Paths.Len() == 0 {
		t.Fatal("no paths")
	}
}
