package query

import (
	"strings"
	"testing"
	"time"
)

func TestColumnTypeOf(t *testing.T) {
	tests := []struct {
		db   string
		want ColumnType
	}{
		{"String", TypeString}, {"FixedString(3)", TypeString}, {"LowCardinality(String)", TypeString},
		{"Nullable(Int32)", TypeInt64}, {"Int64", TypeInt64}, {"UInt8", TypeUInt64}, {"UInt64", TypeUInt64},
		{"Float32", TypeFloat64}, {"Date", TypeDate}, {"DateTime", TypeTime}, {"DateTime('UTC')", TypeTime},
		{"Array(String)", TypeStringList}, {"Array(UInt8)", TypeString}, {"Decimal(9, 2)", TypeString},
		{"Tuple(UInt8, String)", TypeString}, {"UUID", TypeString}, {"Nullable(LowCardinality(String))", TypeString},
	}
	for _, tt := range tests {
		if got, _ := columnTypeOf(tt.db); got != tt.want {
			t.Errorf("columnTypeOf(%s) = %s, want %s", tt.db, got, tt.want)
		}
	}
	_, conv := columnTypeOf("Nullable(Int32)")
	var nilp *int32
	if _, ok := conv(nilp); ok {
		t.Error("nil pointer of a Nullable column is not null")
	}
	one := int32(1)
	if v, ok := conv(&one); !ok || v != int32(1) {
		t.Errorf("conv(&1) = %v, %v", v, ok)
	}
	_, conv = columnTypeOf("Array(UInt8)")
	if v, _ := conv([]uint8{1, 2}); v != "[1,2]" {
		t.Errorf("Array(UInt8) renders as %v", v)
	}
}

func TestSQLConfigValidate(t *testing.T) {
	if err := DefaultSQLConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*SQLConfig)
		key  string
	}{
		{"sub-second time", func(c *SQLConfig) { c.MaxExecutionTime = 1500 * time.Millisecond }, "sql.max_execution_time"},
		{"zero time", func(c *SQLConfig) { c.MaxExecutionTime = 0 }, "sql.max_execution_time"},
		{"memory", func(c *SQLConfig) { c.MaxMemoryUsage = 0 }, "sql.max_memory_usage"},
		{"rows to read", func(c *SQLConfig) { c.MaxRowsToRead = -1 }, "sql.max_rows_to_read"},
		{"result rows", func(c *SQLConfig) { c.MaxResultRows = 0 }, "sql.max_result_rows"},
		{"result bytes", func(c *SQLConfig) { c.MaxResultBytes = 0 }, "sql.max_result_bytes"},
		{"query bytes", func(c *SQLConfig) { c.MaxQueryBytes = 0 }, "sql.max_query_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultSQLConfig()
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.key+":") {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.key)
			}
		})
	}
}
