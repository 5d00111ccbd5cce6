package kafka_test

import (
	"github.com/meterline/meterline/internal/collector"
	"github.com/meterline/meterline/internal/kafka"
)

// The publisher implements the port of its user.
var _ collector.Publisher = (*kafka.Publisher)(nil)
