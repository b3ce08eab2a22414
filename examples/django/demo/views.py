from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_POST


def index(request):
    s = request.sessiongate
    return HttpResponse(f"user: {s.user_id or 'anonymous'}\ncart: {s.data.get('cart', [])}\n", content_type="text/plain")


def session_json(request):
    s = request.sessiongate
    return JsonResponse({
        "id": s.id, "user": s.user_id, "data": s.data,
        # What USE_X_FORWARDED_HOST and SECURE_PROXY_SSL_HEADER make of the gateway's headers.
        "host": request.get_host(), "secure": request.is_secure(),
    })


@require_POST
def login(request):
    request.sessiongate.login(request.POST.get("user", ""))
    return _see_other()


@require_POST
def cart(request):
    items = request.sessiongate.data.get("cart", [])
    request.sessiongate.update({"cart": [*items, request.POST.get("item", "")]})
    return _see_other()


@require_POST
def logout(request):
    request.sessiongate.logout()
    return _see_other()


def _see_other():
    response = HttpResponse(status=303)
    response["Location"] = "/"
    return response
