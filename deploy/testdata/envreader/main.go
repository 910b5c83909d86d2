// Command envreader reads settings in each way EnvReads must find.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/kafkablog/blog/shared/config"
)

const portVariable = "FIXTURE_PORT"

func main() {
	env := config.New()
	wait := env.Duration("FIXTURE_WAIT", 3*time.Second)
	port := env.Int(portVariable, 8080, 1, 65535)
	mode := os.Getenv("FIXTURE_MODE")
	_, debug := os.LookupEnv("FIXTURE_DEBUG")
	env.Fail("FIXTURE_NOT_READ", "Fail names a variable but reads nothing")

	fmt.Println(wait, port, mode, debug)
}
