// synack::expected — the subset of C++23 std::expected that synack uses.
//
// g++ 12's libstdc++ has no <expected> and Debian 12 packages no substitute, so this is the
// one piece we write ourselves. The names match std::expected so that moving to it later is
// a using-declaration.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace synack {

template <class E>
class unexpected {
 public:
  constexpr explicit unexpected(E error) : error_(std::move(error)) {}
  constexpr const E& error() const& { return error_; }

 private:
  E error_;
};

template <class T, class E>
class [[nodiscard]] expected {
 public:
  using value_type = T;
  using error_type = E;

  constexpr expected(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
  constexpr expected(unexpected<E> error) : storage_(std::in_place_index<1>, error.error()) {}

  constexpr bool has_value() const { return storage_.index() == 0; }
  constexpr explicit operator bool() const { return has_value(); }

  constexpr T& value() & { return checked_value(); }
  constexpr const T& value() const& { return const_cast<expected*>(this)->checked_value(); }
  constexpr T&& value() && { return std::move(checked_value()); }
  constexpr T& operator*() & { return value(); }
  constexpr const T& operator*() const& { return value(); }
  constexpr T* operator->() { return &value(); }
  constexpr const T* operator->() const { return &value(); }

  constexpr const E& error() const {
    assert(!has_value());
    return *std::get_if<1>(&storage_);
  }

 private:
  constexpr T& checked_value() {
    assert(has_value());
    return *std::get_if<0>(&storage_);
  }

  std::variant<T, E> storage_;
};

// expected<void, E>: success carries nothing.
template <class E>
class [[nodiscard]] expected<void, E> {
 public:
  constexpr expected() = default;
  constexpr expected(unexpected<E> error) : error_(error.error()), failed_(true) {}

  constexpr bool has_value() const { return !failed_; }
  constexpr explicit operator bool() const { return has_value(); }
  constexpr const E& error() const {
    assert(failed_);
    return error_;
  }

 private:
  E error_{};
  bool failed_ = false;
};

}  // namespace synack
