module github.com/meterline/meterline/e2e

go 1.26
