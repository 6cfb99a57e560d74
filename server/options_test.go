package server

import (
	"errors"
	"testing"
)

func TestOptionsDefaults(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if o.HTTPAddr != ":8080" || o.GRPCAddr != ":50051" || o.DataDir != "./data" ||
		o.MaxBody != 64<<20 || o.MaxBulkBytes != 8<<30 || o.Collection != "default" ||
		o.Metric != "l2" || o.M != 16 || o.M0 != 32 || o.EfConstruction != 200 || o.EfSearch != 64 ||
		o.RateLimit != 0 || o.RateBurst != 0 {
		t.Fatalf("unexpected defaults: %+v", o)
	}
	o2 := Options{RateLimit: 2.5}
	o2.EnsureDefaults()
	if o2.RateBurst != 3 {
		t.Fatalf("burst for 2.5 req/s = %d, want 3", o2.RateBurst)
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := []func(*Options){
		func(o *Options) { o.RateLimit = -1 },
		func(o *Options) { o.MaxBody = -5 },
		func(o *Options) { o.Collection = "a b" },
		func(o *Options) { o.Metric = "hamming" },
		func(o *Options) { o.M = 1 },
		func(o *Options) { o.M0 = 8 },
		func(o *Options) { o.EfConstruction = 4 },
		func(o *Options) { o.LogLevel = "loud" },
		func(o *Options) { o.LogFormat = "xml" },
		func(o *Options) { o.APIKeys = []string{""} },
		func(o *Options) { o.ReadOnlyKeys = []string{" padded"} },
		func(o *Options) { o.Dim = -1 },
	}
	for i, f := range bad {
		var o Options
		o.EnsureDefaults()
		f(&o)
		if err := o.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("case %d: Validate() = %v, want ErrInvalidOptions", i, err)
		}
	}
	db := openTestStore(t)
	defer db.Close()
	if _, err := New(db, Options{M: 1}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("New with bad options: %v", err)
	}
	if _, err := New(nil, Options{}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("New without a store: %v", err)
	}
}
