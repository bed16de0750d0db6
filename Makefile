# Rantai developer commands. `make` lists them.
.DEFAULT_GOAL := help
.PHONY: help setup run test lint format bench messages clean

BIN := .venv/bin

help: ## List the available targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Create .venv with the locked dependencies (idempotent)
	bash scripts/setup.sh

run: ## Migrate, load the demo organisation and serve (honours PORT)
	bash scripts/run.sh

test: ## Run every check and the test suite (SQLite, then PostgreSQL if available)
	bash scripts/test.sh

lint: setup ## ruff check, ruff format --check, import layers, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: setup ## Format and auto-fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup ## Run the benchmarks
	$(BIN)/python benchmarks/run_all.py

messages: setup ## Update and compile the Indonesian (id) translation catalogue
	mkdir -p rantai/locale
	$(BIN)/rantai makemessages -l id --no-obsolete --ignore='var/*' --ignore='static-collected/*' --ignore='node_modules/*'
	$(BIN)/rantai compilemessages --ignore='.venv' --ignore='var'

clean: ## Remove local data and test output (var/)
	rm -rf var/
