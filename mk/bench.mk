# `make bench` also runs W14 against examples/http_server: build it first.
bench-run: $(BUILD)/examples/http_server
