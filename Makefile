# Common tasks. `make dev` runs the whole system locally; `make test` runs
# every test against real Kafka and PostgreSQL.

MODULES := shared posts-svc comments-svc query-svc moderation-svc devrun e2e systest deploy

.PHONY: dev rebuild clean-dev test bench build vet fmt deps

## dev: build and run the whole system on 127.0.0.1 (Ctrl-C stops it)
dev:
	@mkdir -p .dev/bin
	go build -o .dev/bin/devrun ./devrun
	@exec .dev/bin/devrun

## rebuild: rebuild the read model of the running `make dev` from the log
rebuild:
	go run ./devrun rebuild

## clean-dev: remove the local system's PostgreSQL data and Kafka log
clean-dev:
	go run ./devrun clean

## test: install test dependencies, start Kafka and PostgreSQL, run all tests
test:
	bash scripts/test.sh

## bench: time a full read-model rebuild of 1,000,000 events on real Kafka
bench:
	bash scripts/bench.sh

## build: compile every service into bin/
build:
	mkdir -p bin
	for svc in posts-svc comments-svc query-svc moderation-svc; do \
		CGO_ENABLED=0 go build -trimpath -o bin/$$svc ./$$svc || exit 1; \
	done

## vet: go vet every module
vet:
	go vet $(addprefix ./,$(addsuffix /...,$(MODULES)))

## fmt: gofmt every Go file
fmt:
	gofmt -w $(MODULES)

## deps: install what the tests need (apt packages, Kafka jars, npm packages)
deps:
	bash scripts/install-deps.sh
