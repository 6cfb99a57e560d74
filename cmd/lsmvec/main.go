// Command lsmvec is the lsmvec vector database server.
package main

import (
	"fmt"
	"os"

	"github.com/lsmvec/lsmvec/kernels"
)

func main() {
	fmt.Fprintf(os.Stderr, "lsmvec: the server is not built yet (kernels: %s); it will serve HTTP on :8080 and gRPC on :50051 with data in ./data\n", kernels.Impl())
}
