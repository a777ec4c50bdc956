import { Controller, Delete, Get, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { KilnError } from '@kiln/contracts';
import { AllowWebSession, Public, KeyScope } from '../auth/auth.guard';
import { Caller } from '../auth/principal.decorator';
import type { Principal } from '../auth/principal';
import { WebPage, type LoginMessage } from './web-page';
import { WEB_CSRF_HEADER, WebSessions } from '../auth/web-sessions.service';
import { readLoginForm } from './login-form';
import { AuthFailures, clientAddress } from '../auth/auth-failures.service';

/**
 * The web page at `/` and its session: a login form (plain HTML, no script) posts the API key once
 * to `POST /web/session`, which answers with an HttpOnly cookie and a redirect back to `/`.
 */
@Controller()
@KeyScope({ read: 'jobs:read', write: 'jobs:write' })
export class WebController {
  constructor(
    @Inject(WebPage) private readonly page: WebPage,
    private readonly sessions: WebSessions,
    private readonly failures: AuthFailures,
  ) {}

  /** The converter page with a valid session cookie; the login form otherwise. */
  @Get()
  @Public()
  async index(@Req() req: Request, @Res() res: Response, @Query('login') login?: string): Promise<void> {
    this.sessions.assertEnabled();
    const token = this.sessions.tokenOf(req);
    if (token !== undefined) {
      try {
        await this.sessions.verify(token, req);
        return this.page.sendApp(res);
      } catch (err: unknown) {
        if (!(err instanceof KilnError) || err.code !== 'unauthorized') throw err;
        res.setHeader('Set-Cookie', this.sessions.clearCookie(req));
        return this.page.sendLogin(res, 'ended');
      }
    }
    const message: LoginMessage | undefined = login === 'failed' ? 'failed' : login === 'out' ? 'out' : undefined;
    this.page.sendLogin(res, message);
  }

  @Get('web/static/:name')
  @Public()
  asset(@Param('name') name: string, @Req() req: Request, @Res() res: Response): void {
    this.sessions.assertEnabled();
    if (!this.page.sendAsset(name, req.header('if-none-match'), res)) throw new KilnError('not_found', 'No such file.');
  }

  /**
   * Login: `application/x-www-form-urlencoded` with `api_key`. A valid key sets the session cookie;
   * either way the answer is a 303 to `/` (never a page that repeats the key).
   */
  @Post('web/session')
  @Public()
  async login(@Req() req: Request, @Res() res: Response): Promise<void> {
    this.sessions.assertEnabled();
    const site = req.header('sec-fetch-site');
    if (site === 'cross-site' || site === 'same-site')
      throw new KilnError('forbidden', 'Log in from the Kiln page itself.');
    const form = await readLoginForm(req);
    const address = clientAddress(req);
    const session = await this.sessions.login(form.get('api_key')?.trim() ?? '');
    res.setHeader('Cache-Control', 'no-store');
    if (!session) {
      // Guessing keys through the form is throttled like the API: 429 past the limit.
      const refusal = await this.failures.failed(address, new KilnError('unauthorized', 'wrong key'));
      if (refusal.code === 'rate_limited') throw refusal;
      res.status(303).setHeader('Location', '/?login=failed');
      res.end();
      return;
    }
    await this.failures.assertAllowed(address);
    res.setHeader('Set-Cookie', this.sessions.sessionCookie(session.token, req));
    res.status(303).setHeader('Location', '/');
    res.end();
  }

  /** Who is signed in (a short fingerprint of the key's hash, never the key) and until when. */
  @Get('web/session')
  @AllowWebSession()
  session(@Caller() caller: Principal, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    res.setHeader('Cache-Control', 'no-store');
    const claims = this.sessions.claimsOf(this.sessions.tokenOf(req) ?? '');
    return {
      key_fingerprint: caller.ownerKeyHash.slice(0, 8),
      expires_at: claims ? new Date(claims.expiresAt * 1000).toISOString() : null,
    };
  }

  /** Logout: revokes the session on every replica and clears the cookie (204). Needs X-Kiln-Web: 1. */
  @Delete('web/session')
  @Public()
  async logout(@Req() req: Request, @Res() res: Response): Promise<void> {
    this.sessions.assertEnabled();
    if (req.header(WEB_CSRF_HEADER) !== '1') throw new KilnError('forbidden', 'Send X-Kiln-Web: 1 to log out.');
    const token = this.sessions.tokenOf(req);
    if (token !== undefined) await this.sessions.revoke(token);
    res.setHeader('Set-Cookie', this.sessions.clearCookie(req));
    res.setHeader('Cache-Control', 'no-store');
    res.status(204).end();
  }
}
