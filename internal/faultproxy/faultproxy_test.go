package faultproxy

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string, wait time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

func TestModes(t *testing.T) {
	p := New(t, echoServer(t))
	if err := roundTrip(p.Addr(), time.Second); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	p.Set(Cut)
	if err := roundTrip(p.Addr(), time.Second); err == nil {
		t.Fatal("Cut: round trip succeeded")
	}
	p.Set(Stall)
	if err := roundTrip(p.Addr(), 200*time.Millisecond); err == nil {
		t.Fatal("Stall: round trip succeeded")
	}
	p.Set(Pass)
	if err := roundTrip(p.Addr(), time.Second); err != nil {
		t.Fatalf("Pass again: %v", err)
	}
}
