ENV = "testing"
SECRET_KEY = "testing-secret-key-0123456789abcdef0123456789"
SCHEDULER = "off"
PASSWORD_HASHING = "fast"
