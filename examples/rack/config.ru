# frozen_string_literal: true

# A tiny Rack app behind sessiongate, using the middleware in sessiongate_rack.rb.
#   ORIGIN_SECRET=... ORIGIN_AUDIENCE=127.0.0.1:9292 puma --bind tcp://127.0.0.1:9292 examples/rack/config.ru
# (or `rackup examples/rack/config.ru`). In Rails: config.middleware.insert_before 0,
# Sessiongate::Middleware, ...; in Sinatra: `use Sessiongate::Middleware, ...`.
require "json"
require "rack"
require_relative "sessiongate_rack"

use Sessiongate::Middleware, secret: ENV.fetch("ORIGIN_SECRET"), audience: ENV.fetch("ORIGIN_AUDIENCE")

see_other = -> { [303, { "location" => "/", "content-type" => "text/plain" }, ["\n"]] }

run(lambda do |env|
  req = Rack::Request.new(env)
  s = env["sessiongate"]
  case [req.request_method, req.path_info]
  when ["GET", "/session.json"]
    [200, { "content-type" => "application/json" }, [JSON.generate(id: s.id, user: s.user_id, data: s.data)]]
  when ["POST", "/login"]
    s.login(req.POST["user"].to_s)
    see_other.call
  when ["POST", "/cart"]
    s.update("cart" => Array(s.data["cart"]) + [req.POST["item"].to_s])
    see_other.call
  when ["POST", "/logout"]
    s.logout
    see_other.call
  when ["GET", "/"]
    [200, { "content-type" => "text/plain" }, ["user: #{s.user_id || 'anonymous'}\ncart: #{Array(s.data['cart']).join(', ')}\n"]]
  else
    [404, { "content-type" => "text/plain" }, ["not found\n"]]
  end
end)
