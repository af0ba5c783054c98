import {
  Breadcrumb,
  BreadcrumbItem,
  Dropdown,
  DropdownItem,
  DropdownList,
  Label,
  Masthead,
  MastheadBrand,
  MastheadContent,
  MastheadLogo,
  MastheadMain,
  MastheadToggle,
  MenuToggle,
  Nav,
  NavExpandable,
  NavItem,
  NavList,
  Page,
  PageSidebar,
  PageSidebarBody,
  PageToggleButton,
  Toolbar,
  ToolbarContent,
  ToolbarGroup,
  ToolbarItem,
} from '@patternfly/react-core';
import { type ReactNode, Suspense, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { Link, Outlet, type UIMatch, useLocation, useMatches } from 'react-router';
import { useLiveStatus } from '../api';
import { OperationsButton } from '../features/operations/OperationsDrawer';
import { useAuth } from './auth';
import { LanguageSwitch } from './LanguageSwitch';
import { isGroup, NAVIGATION } from './nav';

/** What a route may put in its `handle`: a breadcrumb (a message id or a node). */
export interface RouteHandle {
  crumb?: string | ((match: UIMatch) => ReactNode);
}

function Crumbs() {
  const matches = useMatches() as UIMatch<unknown, RouteHandle | undefined>[];
  const crumbs = matches.filter((m) => m.handle?.crumb);
  if (crumbs.length === 0) return null;
  return (
    <Breadcrumb>
      {crumbs.map((m, i) => {
        const c = m.handle!.crumb!;
        const text = typeof c === 'string' ? <FormattedMessage id={c} /> : c(m);
        const last = i === crumbs.length - 1;
        return (
          <BreadcrumbItem key={m.id} isActive={last}>
            {last ? text : <Link to={m.pathname}>{text}</Link>}
          </BreadcrumbItem>
        );
      })}
    </Breadcrumb>
  );
}

function LiveIndicator() {
  const status = useLiveStatus();
  const color = status === 'live' ? 'green' : status === 'stopped' ? 'red' : 'orange';
  return (
    <Label color={color} isCompact data-testid="live-status">
      <FormattedMessage id={`live.${status}`} />
    </Label>
  );
}

function UserMenu() {
  const { user, logout } = useAuth();
  const [open, setOpen] = useState(false);
  return (
    <Dropdown
      isOpen={open}
      onOpenChange={setOpen}
      popperProps={{ position: 'right' }}
      toggle={(ref) => (
        <MenuToggle ref={ref} variant="plainText" onClick={() => setOpen(!open)} id="user-menu">
          {user?.username ?? ''}
        </MenuToggle>
      )}
    >
      <DropdownList>
        <DropdownItem key="logout" id="logout" onClick={() => void logout()}>
          <FormattedMessage id="auth.logout" />
        </DropdownItem>
      </DropdownList>
    </Dropdown>
  );
}

function Sidebar() {
  const intl = useIntl();
  const { pathname } = useLocation();
  const active = (to: string) => pathname === to || pathname.startsWith(`${to}/`);
  return (
    <PageSidebar>
      <PageSidebarBody>
        <Nav aria-label={intl.formatMessage({ id: 'nav.label' })}>
          <NavList>
            {NAVIGATION.map((n) =>
              isGroup(n) ? (
                <NavExpandable
                  key={n.id}
                  title={intl.formatMessage({ id: n.id })}
                  isExpanded
                  isActive={n.links.some((l) => active(l.to))}
                >
                  {n.links.map((l) => (
                    <NavItem key={l.to} isActive={active(l.to)}>
                      <Link to={l.to}>{intl.formatMessage({ id: l.id })}</Link>
                    </NavItem>
                  ))}
                </NavExpandable>
              ) : (
                <NavItem key={n.to} isActive={active(n.to)}>
                  <Link to={n.to}>{intl.formatMessage({ id: n.id })}</Link>
                </NavItem>
              ),
            )}
          </NavList>
        </Nav>
      </PageSidebarBody>
    </PageSidebar>
  );
}

/** Masthead (brand, live status, operations, language, user), navigation, breadcrumbs, the page. */
export function Layout() {
  const intl = useIntl();
  const masthead = (
    <Masthead>
      <MastheadMain>
        <MastheadToggle>
          <PageToggleButton isHamburgerButton aria-label={intl.formatMessage({ id: 'nav.toggle' })} />
        </MastheadToggle>
        <MastheadBrand>
          <MastheadLogo component={(props) => <Link {...props} to="/" />}>
            <span className="vireo-brand">Vireo</span>
          </MastheadLogo>
        </MastheadBrand>
      </MastheadMain>
      <MastheadContent>
        <Toolbar isFullHeight isStatic>
          <ToolbarContent>
            <ToolbarGroup align={{ default: 'alignEnd' }} gap={{ default: 'gapMd' }}>
              <ToolbarItem>
                <LiveIndicator />
              </ToolbarItem>
              <ToolbarItem>
                <OperationsButton />
              </ToolbarItem>
              <ToolbarItem>
                <LanguageSwitch />
              </ToolbarItem>
              <ToolbarItem>
                <UserMenu />
              </ToolbarItem>
            </ToolbarGroup>
          </ToolbarContent>
        </Toolbar>
      </MastheadContent>
    </Masthead>
  );
  return (
    <Page masthead={masthead} sidebar={<Sidebar />} isManagedSidebar breadcrumb={<Crumbs />}>
      <Suspense fallback={null}>
        <Outlet />
      </Suspense>
    </Page>
  );
}
