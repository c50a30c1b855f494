-- wrk script for scripts/bench.d/http.sh: every request is for the next of
-- USERS distinct users (`user-{i}`, country and plan as in
-- flags/benches/peer/unleash.rs), each wrk thread starting at its own place.
--   MODE=edge  GET /api/frontend?userId=…&country=…&plan=… (Unleash Edge)
--   MODE=vexil POST /v1/evaluate {"context": …}, every flag, or FLAG's only
-- TOKEN is the token to send; Vexil's is sent as a bearer token.

local mode = os.getenv("MODE") or "vexil"
local token = os.getenv("TOKEN") or ""
local flag = os.getenv("FLAG") or ""
local query = os.getenv("QUERY") or ""
local users = tonumber(os.getenv("USERS") or "10000")
local countries = { "NZ", "AU", "US", "DE", "JP", "BR", "IN", "GB" }
local plans = { "free", "pro", "team" }
local i = 0

function init(args)
    math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
    i = math.random(users)
end

function request()
    i = (i + 1) % users
    local country = countries[i % 8 + 1]
    local plan = plans[math.floor(i / 8) % 3 + 1]
    if mode == "edge" then
        local path = "/api/frontend?userId=user-" .. i .. "&country=" .. country .. "&plan=" .. plan
        return wrk.format("GET", path, { ["Authorization"] = token })
    end
    local which = ""
    if flag ~= "" then
        which = '"flag":"' .. flag .. '",'
    end
    local body = "{" .. which .. '"context":{"key":"user-' .. i .. '","country":"' .. country
        .. '","plan":"' .. plan .. '"}}'
    local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
    return wrk.format("POST", "/v1/evaluate" .. query, headers, body)
end
