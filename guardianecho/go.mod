module github.com/guardian-go/guardian/guardianecho

go 1.26.0

replace github.com/guardian-go/guardian => ../

require (
	github.com/guardian-go/guardian v0.0.0-00010101000000-000000000000
	github.com/labstack/echo/v4 v4.16.5
)

require (
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/labstack/gommon v0.5.0 // indirect
	github.com/mattn/go-colorable v0.1.15 // indirect
	github.com/mattn/go-isatty v0.0.22 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	github.com/valyala/fasttemplate v1.2.2 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)
