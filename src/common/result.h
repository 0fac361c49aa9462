// Result<T>: a value or an error, for code paths that must not throw
// (the request path, the loaders). Errors carry a code and a message.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace agd {

struct Error {
    int code = 0;          // domain-specific (HTTP status, errno, sysexits...)
    std::string message;
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}               // NOLINT: implicit by design
    Result(Error err) : v_(std::move(err)) {}               // NOLINT
    static Result fail(int code, std::string message) { return Result(Error{code, std::move(message)}); }

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

// Result<void>
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error err) : err_(std::move(err)), ok_(false) {}  // NOLINT
    static Result fail(int code, std::string message) { return Result(Error{code, std::move(message)}); }
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return err_; }

private:
    Error err_;
    bool ok_ = true;
};

using Status = Result<void>;

}  // namespace agd
