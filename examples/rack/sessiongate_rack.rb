# frozen_string_literal: true

# sessiongate middleware for Rack (Rails, Sinatra, Hanami, Roda, plain Rack 2 or 3):
# trusts the session headers sessiongate adds only after verifying X-Session-Assertion
# (HS256 JWT with Ruby's OpenSSL, no gems), exposes the session as env["sessiongate"]
# and sends the session commands back on the response. Copy this file.
#
#   require_relative "sessiongate_rack"
#   use Sessiongate::Middleware, secret: ENV.fetch("ORIGIN_SECRET"), audience: "app.internal:9292"
#
#   session = env["sessiongate"]          # Rails: request.env["sessiongate"]
#   session.user_id                       # nil when anonymous
#   session.login("alice")                # X-Session-User-Id on this response
#   session.update("cart" => ["apple"])   # X-Session-Update (JSON merge patch)
#   session.logout                        # X-Session-Action: delete
#
# A request whose assertion is missing, forged, expired, for another audience, for another
# request (method, raw path) or whose X-Session-* headers do not match it gets 401 and
# never reaches the app (`on_invalid: :anonymous` lets it through with env["sessiongate"]
# = nil instead).

require "json"
require "openssl"

module Sessiongate
  ENV_KEY = "sessiongate"
  ERROR_KEY = "sessiongate.error"
  SEGMENT = /\A[A-Za-z0-9_-]+\z/.freeze
  USER_ID = /\A[\x20-\x7e]{1,256}\z/.freeze

  module_function

  def b64decode(text)
    text = text.tr("-_", "+/")
    (text + "=" * (-text.length % 4)).unpack1("m0")
  end

  def b64encode(raw)
    [raw].pack("m0").tr("+/", "-_").delete("=")
  end

  def env_key(prefix, name)
    "HTTP_#{prefix.upcase.tr('-', '_')}#{name}"
  end

  # The request target (path and query) exactly as the client sent it, which is what the
  # assertion signs: REQUEST_URI (Puma, Unicorn, Passenger, Falcon); WEBrick puts an
  # absolute URI there, whose path and query are taken. Else SCRIPT_NAME + PATH_INFO +
  # QUERY_STRING.
  def raw_path(env)
    uri = env["REQUEST_URI"].to_s
    uri = uri.sub(%r{\Ahttps?://[^/?#]*}i, "") if uri.match?(%r{\Ahttps?://}i)
    return uri unless uri.empty?

    path = "#{env['SCRIPT_NAME']}#{env['PATH_INFO']}"
    env["QUERY_STRING"].to_s.empty? ? path : "#{path}?#{env['QUERY_STRING']}"
  end

  # Checks the assertion in env against the request: [claims, nil] or [nil, reason].
  def verify(env, secret:, audience:, issuer: "sessiongate", prefix: "X-Session-", leeway: 0, now: nil)
    token = env[env_key(prefix, "ASSERTION")]
    return [nil, "missing"] if token.nil? || token.empty?

    parts = token.split(".", -1)
    return [nil, "malformed"] unless parts.length == 3 && parts.all? { |p| p.match?(SEGMENT) }

    head, body, sig = parts
    begin
      header = JSON.parse(b64decode(head))
      claims = JSON.parse(b64decode(body))
    rescue ArgumentError, JSON::ParserError
      return [nil, "malformed"]
    end
    return [nil, "algorithm"] unless header.is_a?(Hash) && header["alg"] == "HS256"

    want = b64encode(OpenSSL::HMAC.digest("SHA256", secret, "#{head}.#{body}"))
    return [nil, "signature"] unless OpenSSL.secure_compare(want, sig)
    return [nil, "malformed"] unless claims.is_a?(Hash) && claims["exp"].is_a?(Numeric) && claims["iat"].is_a?(Numeric)
    return [nil, "expired"] if (now || Time.now.to_f) >= claims["exp"] + leeway
    return [nil, "issuer"] unless claims["iss"] == issuer
    return [nil, "audience"] unless Array(claims["aud"]).include?(audience)
    return [nil, "request"] unless claims["method"] == env["REQUEST_METHOD"] && claims["path"] == raw_path(env)

    data = env[env_key(prefix, "DATA")].to_s
    return [nil, "data"] unless claims["data_sha256"] == b64encode(OpenSSL::Digest::SHA256.digest(data))
    return [nil, "sid"] unless claims["sid"] == env[env_key(prefix, "ID")]
    return [nil, "sub"] unless claims["sub"] == env[env_key(prefix, "USER_ID")]

    [claims, nil]
  end

  # Two JSON merge patches (RFC 7396) as one: objects merge, the later value wins.
  def compose(a, b)
    b.each_with_object(a.dup) do |(k, v), out|
      out[k] = out[k].is_a?(Hash) && v.is_a?(Hash) ? compose(out[k], v) : v
    end
  end

  # The session sessiongate vouches for: id, user_id (nil when absent), data (a Hash with
  # String keys), and the commands to send back with the response.
  class Session
    attr_reader :id, :user_id, :data, :expires_at, :store, :data_omitted

    def initialize(env, prefix = "X-Session-")
      key = ->(name) { Sessiongate.env_key(prefix, name) }
      raw = env[key.("DATA")].to_s
      @id = env[key.("ID")]
      @user_id = env[key.("USER_ID")]
      @data = raw.empty? ? {} : JSON.parse(Sessiongate.b64decode(raw).force_encoding(Encoding::UTF_8))
      raise ArgumentError, "session data is not an object" unless @data.is_a?(Hash)

      @new = env[key.("NEW")] == "1"
      @expires_at = env[key.("EXPIRES_AT")]
      @store = env[key.("STORE")]
      omitted = env[key.("DATA_OMITTED")].to_s
      # Bytes of data the gateway withheld (over its header budget), else nil.
      @data_omitted = omitted.match?(/\A\d+\z/) ? omitted.to_i : nil
      @prefix = prefix.downcase
      @login = nil
      @patch = nil
      @actions = []
    end

    def new?
      @new
    end

    # Logs user_id in (or switches user); the gateway moves the session to a new id.
    def login(user_id, keep_data: false)
      unless user_id.is_a?(String) && user_id == user_id.strip && user_id.match?(USER_ID) && !user_id.include?(",")
        raise ArgumentError, "sessiongate: a user id is 1-256 printable ASCII characters, no comma, no surrounding spaces"
      end

      @login = user_id
      @actions.delete("delete")
      action("keep-data") if keep_data
      self
    end

    # Merges patch into the session data (JSON merge patch: nil deletes a key).
    def update(patch)
      raise TypeError, "sessiongate: update takes a Hash" unless patch.is_a?(Hash)

      @patch = Sessiongate.compose(@patch || {}, patch)
      @actions.delete("delete")
      self
    end

    # Logs out: the gateway deletes the session and clears its cookie. Drops earlier
    # login/update calls of this request.
    def logout
      @login = @patch = nil
      @actions = ["delete"]
      self
    end

    # Any other action: "cycle", "clear", "create", "revoke-user", "revoke-others".
    def action(*names)
      names.each { |n| @actions << n unless @actions.include?(n) }
      self
    end

    # Writes the commands into a response headers hash (lower-case names, as Rack 3
    # requires and Rack 2 accepts). The middleware does this.
    def apply(headers)
      headers["#{@prefix}user-id"] = @login if @login
      # base64url: any JSON (non-ASCII included) is a valid header value this way.
      headers["#{@prefix}update"] = Sessiongate.b64encode(JSON.generate(@patch)) if @patch
      headers["#{@prefix}action"] = @actions.join(", ") unless @actions.empty?
      headers
    end
  end

  # Options: secret (the gateway's ORIGIN_SECRET), audience (the host of its ORIGIN_URL,
  # lower-case, default port dropped: a fixed value, never the request's Host), issuer
  # ("sessiongate", its WORKER_NAME), prefix ("X-Session-"), leeway (seconds of clock skew
  # allowed on exp, 0), on_invalid (:reject, a 401; or :anonymous).
  class Middleware
    def initialize(app, secret: ENV["ORIGIN_SECRET"], audience: ENV["ORIGIN_AUDIENCE"], issuer: "sessiongate",
                   prefix: "X-Session-", leeway: 0, on_invalid: :reject)
      raise ArgumentError, "sessiongate: secret and audience are required" if secret.to_s.empty? || audience.to_s.empty?
      raise ArgumentError, "sessiongate: on_invalid is :reject or :anonymous" unless %i[reject anonymous].include?(on_invalid)

      @app = app
      @options = { secret: secret, audience: audience.downcase, issuer: issuer, prefix: prefix, leeway: leeway }
      @on_invalid = on_invalid
    end

    def call(env)
      claims, reason = Sessiongate.verify(env, **@options)
      session = nil
      if claims
        begin
          session = Session.new(env, @options[:prefix])
        rescue ArgumentError, JSON::ParserError
          reason = "data"
        end
      end
      env[ENV_KEY] = session
      env[ERROR_KEY] = reason
      if session.nil? && @on_invalid == :reject
        return [401, { "content-type" => "text/plain" }, ["session assertion missing or invalid\n"]]
      end

      status, headers, body = @app.call(env)
      session&.apply(headers)
      [status, headers, body]
    end
  end
end
